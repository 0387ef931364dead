-- Carries one privilege another role held on the link table over to its freshly built storage.
grant {privilege} on {source}.{fill} to {grantee}
