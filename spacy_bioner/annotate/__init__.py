"""`annotate`: tag a whole corpus with a pipeline and write the predictions back, resumably."""
