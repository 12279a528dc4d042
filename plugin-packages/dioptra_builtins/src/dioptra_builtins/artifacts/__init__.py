"""Task plugins that create, archive and safely unpack artifact files on local paths."""
