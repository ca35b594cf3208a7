SELECT 'all' AS k, COUNT(*) FROM Source
