SELECT 1+1, 2  *3, CONCAT("a",  'b')
