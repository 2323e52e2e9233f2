-- Migration 0007: demo login plugin registration
--
-- Registered inactive. SonicJS's row advertised fixed demo credentials; no demo account is
-- seeded here (the first user is created by `users create-admin` or `dev`), so the plugin
-- only prefills what its settings hold.

INSERT INTO plugins (
  id, name, display_name, description, version, author, category, icon,
  status, is_core, settings, permissions, dependencies,
  installed_at, activated_at, last_updated, created_at, updated_at
) VALUES
  ('demo-login-plugin', 'demo-login-plugin', 'Demo Login Prefill',
   'Prefills the login form with demo credentials for site demonstrations',
   '1.0.0', 'SonicJS', 'demo', '🎯', 'inactive', 1,
   '{}', '[]', '[]',
   1735689600000, NULL, 1735689600000, 1735689600000, 1735689600000)
ON CONFLICT DO NOTHING;
