def to_csv(rows, fields):
    lines = [",".join(fields)]
    lines += [",".join(str(row[f]) for f in fields) for row in rows]
    return "\n".join(lines) + "\n"
