SELECT COUNT(*) FROM Object WHERE flags = ANY (SELECT filterId FROM Filter WHERE photClam > 5000)
