SELECT COUNT(*) FROM Object WHERE name NOT REGEXP '1$' AND name RLIKE '^obj-[0-9]{3}$'
