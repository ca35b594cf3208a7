SELECT DISTINCT extendedness, flags % 3 AS m FROM Object
