"""The per-epoch rows the Python peers record, written as one CSV (header from the first row)."""
import csv


def write_rows_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
