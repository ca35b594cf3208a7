-- ordered
SELECT filterName, photClam / 1000 AS um FROM Filter WHERE photClam > 5000 ORDER BY photClam DESC
