"""The operations console built on the Django admin: dashboard, alerts, replay runs, list
filters and pagination that stay fast on tables of millions of rows."""
