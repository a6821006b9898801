"""Outbound webhooks: matching feed events POSTed to subscribers, signed, in order per shipment, retried."""
