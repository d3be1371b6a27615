"""Lookups without a card (個別照会, 一括照会) and the clinics' budgets that keep them from being an
oracle.
"""
