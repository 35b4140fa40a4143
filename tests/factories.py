"""factory_boy factories for the catalog and users. Projects are made through the services."""

import factory
from django.contrib.auth import get_user_model

from gates.models import Category, GateDefinition, GateTemplate
from projects import readiness


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("preflight-test-pw")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"custom-{n}")
    name = factory.LazyAttribute(lambda c: c.key.title())
    order = 200


class GateTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GateTemplate

    key = factory.Sequence(lambda n: f"template-{n}")
    name = factory.Sequence(lambda n: f"Template {n}")
    signoff_roles = factory.LazyFunction(lambda: ["Backend Lead", "DevOps Lead", "Product Owner"])
    stages = factory.LazyFunction(
        lambda: [
            {
                "name": "Soft launch",
                "order": 1,
                "min_score": 50,
                "min_closed": 2,
                "required_roles": ["Backend Lead", "Product Owner"],
            },
            {
                "name": "GA",
                "order": 2,
                "min_score": 90,
                "min_closed": 5,
                "required_roles": ["Backend Lead", "DevOps Lead", "Product Owner"],
            },
        ]
    )


class GateDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GateDefinition

    template = factory.SubFactory(GateTemplateFactory)
    code = factory.Sequence(lambda n: f"G{n}")
    title = factory.Sequence(lambda n: f"Gate {n}")
    category = factory.LazyFunction(lambda: Category.objects.get(key="technical"))
    severity = readiness.MEDIUM
    order = factory.Sequence(lambda n: n)
