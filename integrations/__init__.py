"""Downstream destinations, outbound deliveries, retries, dead letters and ERP adapters."""
