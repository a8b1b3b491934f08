//! A category: created once (name, unique slug, optional parent), renamed after.

use uuid::Uuid;
use vitrine_contract::Event;

use crate::aggregates::DomainError;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Category {
    pub id: Uuid,
    /// False for the category a `Create` is about to record.
    pub exists: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Validated: trimmed name, well-formed slug, existing parent.
    Create {
        name: String,
        slug: String,
        parent_id: Option<Uuid>,
    },
    Rename {
        name: String,
    },
}

pub fn decide(category: &Category, command: Command) -> Result<Vec<Event>, DomainError> {
    let category_id = category.id;
    match command {
        Command::Create { .. } if category.exists => {
            Err(DomainError::Conflict("the category exists".into()))
        }
        Command::Create {
            name,
            slug,
            parent_id,
        } => Ok(vec![Event::CategoryCreated {
            category_id,
            name,
            slug,
            parent_id,
        }]),
        Command::Rename { .. } if !category.exists => Err(DomainError::NotFound("category")),
        Command::Rename { name } => Ok(vec![Event::CategoryRenamed { category_id, name }]),
    }
}

pub fn apply(mut category: Category, event: &Event) -> Category {
    if let Event::CategoryCreated { category_id, .. } = event {
        category.id = *category_id;
        category.exists = true;
    }
    category
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(name: &str) -> Command {
        Command::Create {
            name: name.into(),
            slug: "lamps".into(),
            parent_id: None,
        }
    }

    #[test]
    fn a_created_category_can_be_renamed_but_not_created_again() {
        let new = Category {
            id: Uuid::now_v7(),
            exists: false,
        };
        let created = decide(&new, create("Lamps")).unwrap();
        let category = created.iter().fold(new, apply);
        assert!(category.exists);
        assert_eq!(
            decide(
                &category,
                Command::Rename {
                    name: "Lights".into()
                }
            )
            .unwrap(),
            vec![Event::CategoryRenamed {
                category_id: category.id,
                name: "Lights".into()
            }]
        );
        assert!(matches!(
            decide(&category, create("Lamps")),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn renaming_a_category_that_does_not_exist_is_not_found() {
        assert_eq!(
            decide(&Category::default(), Command::Rename { name: "X".into() }),
            Err(DomainError::NotFound("category"))
        );
    }
}
