"""Task plugins that train small numpy estimators and predict with them."""
