SELECT o.extendedness, t.c, COUNT(*) FROM Object o JOIN (SELECT extendedness, COUNT(*) AS c FROM Object GROUP BY extendedness) AS t ON t.extendedness <=> o.extendedness GROUP BY o.extendedness, t.c
