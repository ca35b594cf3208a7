SELECT COUNT(*) FROM Object WHERE flags < ANY (SELECT filterName FROM Filter) OR gMag > ALL (SELECT filterName FROM Filter WHERE filterId < 3)
