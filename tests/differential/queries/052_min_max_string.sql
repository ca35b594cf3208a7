SELECT MIN(name), MAX(name) FROM Object WHERE flags = 5
