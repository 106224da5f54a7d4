"""Correlations, plots and reports over benchmark results (Jung et al. ICLR 2023; Wu et al. ICLR 2024)."""
