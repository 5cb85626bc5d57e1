"""Helpers for knowledge-base tests: waiting for jobs, a hand-made PDF."""

from __future__ import annotations

from typing import Any

import httpx

from meshline.testing.wait import WaitTimeout, wait_until


async def wait_for_job(http: httpx.AsyncClient, job_id: str, headers: dict[str, Any], timeout_s: float = 60.0) -> Any:
    """Poll ``GET /v1/jobs/{id}`` until ``done + failed == total``; returns the final status."""
    last: list[dict[str, Any]] = []

    async def finished() -> bool:
        response = await http.get(f"/v1/jobs/{job_id}", headers=headers)
        assert response.status_code == 200, response.text
        last[:] = [response.json()]
        return bool(last[0]["done"] + last[0]["failed"] >= last[0]["total"])

    try:
        await wait_until(finished, timeout=timeout_s, interval=0.05)
    except WaitTimeout:
        raise AssertionError(f"job did not finish: {last[0]}") from None
    return last[0]


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` in Helvetica (valid xref, readable by pypdf)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_from_objects(objects)


def pdf_from_objects(objects: list[bytes]) -> bytes:
    """A PDF of these numbered objects (1 is the catalog) with a valid cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
