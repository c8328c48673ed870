"""Billing: charging rules, month close, statements and the statement workbook."""
