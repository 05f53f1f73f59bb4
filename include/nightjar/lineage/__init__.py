"""Lineage read back: explain a scored row, reproduce a registered model."""
