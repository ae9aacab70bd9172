-- Dashboard views. Rolling windows and the area/hour views read blotter.agg_hourly (cheap); the
-- views that need columns agg_hourly does not keep (crime_against, offense) read
-- blotter.incidents. Hours and days are UTC.

CREATE VIEW blotter.rolling_24h AS
SELECT city, category, sum(incidents)::bigint AS incidents
  FROM blotter.agg_hourly
 WHERE hour > now() - interval '24 hours'
 GROUP BY city, category;

CREATE VIEW blotter.rolling_7d AS
SELECT city, category, sum(incidents)::bigint AS incidents
  FROM blotter.agg_hourly
 WHERE hour > now() - interval '7 days'
 GROUP BY city, category;

CREATE VIEW blotter.rolling_30d AS
SELECT city, category, sum(incidents)::bigint AS incidents
  FROM blotter.agg_hourly
 WHERE hour > now() - interval '30 days'
 GROUP BY city, category;

-- Incidents per city and UTC month of occurrence.
CREATE VIEW blotter.monthly_by_city AS
SELECT city, date_trunc('month', hour, 'UTC') AS month, sum(incidents)::bigint AS incidents
  FROM blotter.agg_hourly
 GROUP BY city, date_trunc('month', hour, 'UTC');

-- Share of each crime_against class within a city.
CREATE VIEW blotter.crime_against_share AS
SELECT city, crime_against, count(*)::bigint AS incidents,
       round(count(*)::numeric / sum(count(*)) OVER (PARTITION BY city), 4) AS share
  FROM blotter.incidents
 GROUP BY city, crime_against;

-- The 20 most frequent offenses of each city.
CREATE VIEW blotter.top_offenses AS
SELECT city, offense, incidents, rank
  FROM (SELECT city, coalesce(offense, '') AS offense, count(*)::bigint AS incidents,
               rank() OVER (PARTITION BY city ORDER BY count(*) DESC) AS rank
          FROM blotter.incidents
         GROUP BY city, coalesce(offense, '')) t
 WHERE rank <= 20;

-- Incidents per city and area ('' unknown), all time.
CREATE VIEW blotter.by_area AS
SELECT city, area, sum(incidents)::bigint AS incidents
  FROM blotter.agg_hourly
 GROUP BY city, area;

-- Hour of day (0-23) by ISO day of week (1 Monday .. 7 Sunday), UTC.
CREATE VIEW blotter.hour_by_weekday AS
SELECT city,
       extract(isodow FROM hour AT TIME ZONE 'UTC')::integer AS weekday,
       extract(hour FROM hour AT TIME ZONE 'UTC')::integer AS hour_of_day,
       sum(incidents)::bigint AS incidents
  FROM blotter.agg_hourly
 GROUP BY 1, 2, 3;

CREATE VIEW blotter.last_7d_by_area AS
SELECT city, area, sum(incidents)::bigint AS incidents
  FROM blotter.agg_hourly
 WHERE hour > now() - interval '7 days'
 GROUP BY city, area;
