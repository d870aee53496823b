"""Operations: health, metrics, audit log and maintenance jobs."""
