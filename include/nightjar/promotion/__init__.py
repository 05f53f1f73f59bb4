"""The model registry and its aliases, the one promotion rule, and the model card."""
