SELECT extendedness, STDDEV_SAMP(uMag), VAR_POP(uMag), COUNT(uMag), STDDEV(flags) FROM Object GROUP BY extendedness
