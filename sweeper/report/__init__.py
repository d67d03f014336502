"""The sweep's report, rebuilt from the job records.

``summary.csv`` (one row per job), ``groups.csv`` and the printed table (one row per
setting, over seeds), the plots, and the tables of the sweep's native W&B charts.
"""
