"""Sources: loaders that turn real data files into canonical node and edge tables."""
