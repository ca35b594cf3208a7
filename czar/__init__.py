"""The czar: MySQL frontend, query analysis, planning, dispatch to workers, merge."""
