SELECT * FROM Source WHERE filterId = 3
