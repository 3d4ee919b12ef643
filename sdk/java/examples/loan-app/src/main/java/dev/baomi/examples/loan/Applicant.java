package dev.baomi.examples.loan;

import dev.baomi.spring.BaomiEntityListener;
import dev.baomi.spring.Encrypted;
import dev.baomi.spring.SubjectId;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.EntityListeners;
import jakarta.persistence.Id;

/** A loan application, kept with JPA: the same two annotations, and Baomi's entity listener. */
@Entity
@EntityListeners(BaomiEntityListener.class)
public class Applicant {
  @Id @SubjectId private String id;

  private Long amount;

  @Encrypted("id_number")
  @Column(name = "id_number")
  private String idNumber;

  @Encrypted("mobile")
  private String mobile;

  protected Applicant() {}

  public Applicant(String id, Long amount, String idNumber, String mobile) {
    this.id = id;
    this.amount = amount;
    this.idNumber = idNumber;
    this.mobile = mobile;
  }

  public String getId() {
    return id;
  }

  public Long getAmount() {
    return amount;
  }

  public void setAmount(Long amount) {
    this.amount = amount;
  }

  public String getIdNumber() {
    return idNumber;
  }

  public String getMobile() {
    return mobile;
  }

  public void setMobile(String mobile) {
    this.mobile = mobile;
  }
}
