"""The sweep's report, rebuilt from the job records: the table, ``summary.csv`` and the plots."""
