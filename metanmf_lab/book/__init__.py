"""The book: the chapters' functions, plotting, diagrams, tables, the notebooks' parameters
and the pipeline that executes and renders them."""
