"""Service levels: KPI measurement, quarterly assessment, service credits, publication."""
