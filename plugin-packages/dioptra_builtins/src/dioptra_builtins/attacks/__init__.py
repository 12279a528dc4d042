"""Task plugins that craft adversarial examples."""
