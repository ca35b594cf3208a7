SELECT objectId, name FROM Object WHERE extendedness IN (0, NULL) AND name REGEXP '^obj-1[0-9]$'
