-- Run once by the postgres image on an empty data folder (deploy/compose.yaml): the
-- Evolution API's own database, beside Mirage's (created by POSTGRES_DB).
CREATE DATABASE evolution;
