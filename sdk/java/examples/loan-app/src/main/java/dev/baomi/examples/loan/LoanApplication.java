package dev.baomi.examples.loan;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** A loan platform's backend, keeping its customers' ID numbers and mobiles in Baomi. */
@SpringBootApplication
public class LoanApplication {
  public static void main(String[] args) {
    SpringApplication.run(LoanApplication.class, args);
  }
}
