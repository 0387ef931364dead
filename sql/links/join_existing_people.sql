-- Keeps the people links' definition to contact methods whose person exists: bound into select_people_links_window.sql when no validated foreign key of the source proves it.
inner join {source}.people as person
    on person.id = contact_method.person_id
