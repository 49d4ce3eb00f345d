"""Embeds and views built from service results. Nothing here speaks HTTP or SQL."""
