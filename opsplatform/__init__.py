"""opsplatform: recharging, statements and performance for a council shared-service centre."""
