//! People compressed into distinct types: a person's outcome codes across the k deployments plus
//! their group in each grouping. Every failure-based metric depends on people only through how
//! many there are of each type, so a million people become a few hundred weighted types.

use std::collections::HashMap;

use crate::failures::{SystemMatrix, ABSENT, FAILED};

/// The distinct person types of one system and their counts, sorted by key so that the order
/// of people in the table does not matter.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonTypes {
    /// Number of deployments, k.
    pub k: usize,
    /// The deployments' names.
    pub deployments: Vec<String>,
    /// Per grouping: its name and its group names.
    pub groupings: Vec<(String, Vec<String>)>,
    /// Outcome codes of each type, type-major (`outcomes[t * k + i]`).
    pub outcomes: Vec<u8>,
    /// Group code of each type in each grouping, type-major (`groups[t * n_groupings + g]`).
    pub groups: Vec<u32>,
    /// How many people have each type.
    pub counts: Vec<u64>,
}

impl PersonTypes {
    /// Compresses a system's people into types.
    pub fn from_system(s: &SystemMatrix) -> Self {
        let k = s.n_deployments();
        let ng = s.groupings.len();
        let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut keys: Vec<Vec<u32>> = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        let mut key = vec![0u32; k + ng];
        for p in 0..s.n_people() {
            for (slot, &o) in key.iter_mut().zip(s.person(p)) {
                *slot = u32::from(o);
            }
            for (g, grouping) in s.groupings.iter().enumerate() {
                key[k + g] = grouping.of_person[p];
            }
            match index.get(key.as_slice()) {
                Some(&t) => counts[t] += 1,
                None => {
                    index.insert(key.clone(), keys.len());
                    keys.push(key.clone());
                    counts.push(1);
                }
            }
        }
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        let mut outcomes = Vec::with_capacity(order.len() * k);
        let mut groups = Vec::with_capacity(order.len() * ng);
        let mut sorted_counts = Vec::with_capacity(order.len());
        for &t in &order {
            outcomes.extend(keys[t][..k].iter().map(|&c| c as u8));
            groups.extend_from_slice(&keys[t][k..]);
            sorted_counts.push(counts[t]);
        }
        PersonTypes {
            k,
            deployments: s.deployments.clone(),
            groupings: s
                .groupings
                .iter()
                .map(|g| (g.name.clone(), g.levels.clone()))
                .collect(),
            outcomes,
            groups,
            counts: sorted_counts,
        }
    }

    /// Number of distinct types.
    pub fn n_types(&self) -> usize {
        self.counts.len()
    }

    /// Number of people, n.
    pub fn n_people(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Outcome codes of type `t`, one per deployment.
    pub fn outcome(&self, t: usize) -> &[u8] {
        &self.outcomes[t * self.k..(t + 1) * self.k]
    }

    /// Group code of type `t` in grouping `g`.
    pub fn group(&self, t: usize, g: usize) -> usize {
        self.groups[t * self.groupings.len() + g] as usize
    }

    /// Whether some person did not meet every deployment (then eq. 10 applies).
    pub fn partial_coverage(&self) -> bool {
        self.outcomes.contains(&ABSENT)
    }

    /// Whether every deployment type `t` met failed it (the person is failed everywhere they
    /// went).
    pub fn all_failed(&self, t: usize) -> bool {
        self.outcome(t).iter().all(|&o| o == FAILED || o == ABSENT)
    }

    /// The counts as f64 weights.
    pub fn weights(&self) -> Vec<f64> {
        self.counts.iter().map(|&c| c as f64).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failures::{Grouping, OK};

    #[test]
    fn identical_people_share_a_type() {
        // 4 people, 2 deployments: (F,F,x), (F,F,x), (O,F,y), (F,F,y) -> 3 types.
        let s = SystemMatrix {
            name: "all".into(),
            deployments: vec!["a".into(), "b".into()],
            people: vec!["1".into(), "2".into(), "3".into(), "4".into()],
            outcomes: vec![FAILED, FAILED, FAILED, FAILED, OK, FAILED, FAILED, FAILED],
            losses: None,
            groupings: vec![Grouping {
                name: "g".into(),
                levels: vec!["x".into(), "y".into()],
                of_person: vec![0, 0, 1, 1],
            }],
            attributes: vec![],
        };
        let t = PersonTypes::from_system(&s);
        assert_eq!(t.n_types(), 3);
        assert_eq!(t.n_people(), 4);
        // Sorted by key: (O,F,y) < (F,F,x) < (F,F,y).
        assert_eq!(t.counts, vec![1, 2, 1]);
        assert_eq!(t.outcome(0), &[OK, FAILED]);
        assert_eq!(t.group(1, 0), 0);
        assert!(!t.partial_coverage());
    }
}
