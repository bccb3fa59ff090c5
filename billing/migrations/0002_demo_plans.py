from django.db import migrations

DEMO_PLANS = [
    {
        "code": "free",
        "name": "Free",
        "tier": "free",
        "price_cents": 0,
        "interval": "month",
        "features": ["1 project", "Community support"],
    },
    {
        "code": "pro-monthly",
        "name": "Pro",
        "tier": "pro",
        "price_cents": 1900,
        "interval": "month",
        "features": ["10 projects", "Email support", "Usage reports"],
    },
    {
        "code": "business-monthly",
        "name": "Business",
        "tier": "business",
        "price_cents": 9900,
        "interval": "month",
        "features": ["Unlimited projects", "Priority support", "Single sign-on", "Audit log"],
    },
]


def seed_demo_plans(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for plan in DEMO_PLANS:
        # Idempotent: a plan staff already created or edited is left as it is.
        Plan.objects.get_or_create(code=plan["code"], defaults={**plan, "currency": "usd", "is_active": True})


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed_demo_plans, migrations.RunPython.noop)]
