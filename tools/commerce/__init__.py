"""Commerce tool service: catalog, orders, shipments, invoices, returns and refunds."""
