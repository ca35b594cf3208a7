SELECT AVG(flags) + AVG(extendedness) AS s FROM Object
