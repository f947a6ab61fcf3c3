"""Statistics of face shape on Kendall's shape space: the mean shape, distinctiveness (averageness),
shape regressed on predictors (RRPP), group mean shapes (dimorphism), symmetry and the shape RDM."""
