-- The cities beyond Socrata (Toronto's ArcGIS layers, San Diego's yearly CSV files), and the
-- hate crimes by bias category: Toronto's hate-crime layer carries its bias fields
-- (AGE_BIAS, RACE_BIAS, RELIGION_BIAS, ...) in attributes; these views make them queryable.

INSERT INTO blotter.cities (city, time_zone, title) VALUES
    ('toronto', 'America/Toronto', 'Toronto'),
    ('toronto-hate-crimes', 'America/Toronto', 'Toronto (hate crimes)'),
    ('san-diego', 'America/Los_Angeles', 'San Diego')
ON CONFLICT (city) DO NOTHING;

-- One row per (hate crime, bias category it names): the category is the attribute's name in
-- lower case without _BIAS ('race', 'religion', 'sexual_orientation', ..., 'multiple'), the
-- bias its value ('Black', 'Jewish', ...). Values that name no bias ('None', 'NO', empty) are
-- left out; MULTIPLE_BIAS = 'YES' is the category 'multiple' with bias 'multiple'.
CREATE VIEW blotter.hate_crime_biases AS
SELECT i.city, i.incident_id, i.occurred_at, i.category, i.offense, i.area,
       lower(regexp_replace(b.key, '_BIAS$', '')) AS bias_category,
       CASE WHEN b.key = 'MULTIPLE_BIAS' THEN 'multiple' ELSE b.value END AS bias
  FROM blotter.incidents i
 CROSS JOIN LATERAL jsonb_each_text(i.attributes) AS b(key, value)
 WHERE i.city = 'toronto-hate-crimes'
   AND (b.key LIKE '%\_BIAS' OR b.key = 'MENTAL_OR_PHYSICAL_DISABILITY')
   AND coalesce(trim(b.value), '') NOT IN ('', 'None', 'NONE', 'NO', 'No', 'N/A');

COMMENT ON VIEW blotter.hate_crime_biases IS
    'Hate crimes (toronto-hate-crimes) by the bias categories their bias fields name.';

-- Hate crimes per bias category and year of occurrence (Toronto time), with the change
-- against the year before: which biases are rising.
CREATE VIEW blotter.hate_crime_bias_trend AS
WITH yearly AS (
    SELECT b.city, b.bias_category, b.bias,
           extract(year FROM b.occurred_at AT TIME ZONE coalesce(c.time_zone, 'UTC'))::integer
               AS year,
           count(*) AS incidents
      FROM blotter.hate_crime_biases b
      LEFT JOIN blotter.cities c ON c.city = b.city
     GROUP BY 1, 2, 3, 4)
SELECT y.city, y.bias_category, y.bias, y.year, y.incidents,
       lag(y.incidents) OVER w AS previous_year,
       y.incidents - coalesce(lag(y.incidents) OVER w, 0) AS change
  FROM yearly y
WINDOW w AS (PARTITION BY y.city, y.bias_category, y.bias ORDER BY y.year);

COMMENT ON VIEW blotter.hate_crime_bias_trend IS
    'Hate crimes per bias and year, with the change against the previous year.';
