package dev.baomi.examples.loan;

import org.springframework.data.jpa.repository.JpaRepository;

/** Loan applications, through Spring Data JPA. */
public interface ApplicantRepository extends JpaRepository<Applicant, String> {}
