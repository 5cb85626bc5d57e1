"""The scopes a service token can carry: what its one audience lets the holder do there.

The orchestrator mints every token for a single audience with the fewest scopes the hop needs;
each service names, per route, the scope it requires (``require_identity(scope)``).
"""

from __future__ import annotations

AGENT_INVOKE = "agent:invoke"  # an agent service: run a task
LLM_CALL = "llm:call"  # the LLM layer: completions, model list
MEMORIES_READ = "memories:read"  # the memory service: search and export the user's memories
MEMORIES_WRITE = "memories:write"  # ... remember and erase them
KNOWLEDGE_READ = "knowledge:read"  # ... search the tenant's knowledge bases, read collections and jobs
KNOWLEDGE_WRITE = "knowledge:write"  # ... ingest and delete documents and collections
TOOLS_CALL = "tools:call"  # a tool service: call its tools for the token's customer
USAGE_READ = "usage:read"  # the LLM layer: the tenant's usage report
ADMIN = "admin"  # platform administration (the LLM layer's model registry)

# Every scope a service hop can need: what a token minted "for everything but administration" carries.
SERVICE_SCOPES = (
    AGENT_INVOKE,
    LLM_CALL,
    TOOLS_CALL,
    USAGE_READ,
    MEMORIES_READ,
    MEMORIES_WRITE,
    KNOWLEDGE_READ,
    KNOWLEDGE_WRITE,
)
