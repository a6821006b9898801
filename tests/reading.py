"""The read token tests configure and send: the feed, shipment reads and the OpenAPI document need one."""
READ_TOKEN = "read-token"
READER = {"Authorization": f"Bearer {READ_TOKEN}"}
